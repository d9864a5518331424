//! What the `liquid` crate's grammar refuses, rewritten before it parses.
//!
//! liquid's grammar wants every tag to start with a name and every tag's arguments to be
//! expressions, so Shopify's inline comments (`{% # note %}`), the `liquid` tag (one tag per
//! line, free text in its comments) and `doc` cannot be parsed as tags. And `{{ … }}` prints a
//! whole float without its fraction, which no extension point reaches. This step rewrites the
//! source, splitting it into tags and outputs the way Ruby Liquid's tokenizer does (a tag ends
//! at the first `%}`, an output at the first `}}`):
//!
//! - `{{ x }}` becomes `{% echo x %}` ([`super::echo_tag`] prints as Ruby does);
//! - an inline comment, a `comment` block (nested ones included) and a `doc` block become an
//!   empty `{% comment %}{% endcomment %}` that keeps their whitespace control;
//! - `{% liquid … %}` becomes one tag per line;
//! - `raw` blocks are copied as they are.
//!
//! Every line break is kept, inside the rewritten tags, so a parse error's line is the line the
//! author wrote.

use std::borrow::Cow;

/// Markup the grammar would accept but Shopify rejects, or that cannot be rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MarkupError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// One `{% … %}` or `{{ … }}` as Ruby's tokenizer finds it.
struct Markup<'s> {
    /// Byte offset of its `{` in the source.
    start: usize,
    /// Byte offset just past its closing delimiter.
    end: usize,
    is_tag: bool,
    trim_left: bool,
    trim_right: bool,
    /// Between the delimiters and the whitespace-control hyphens.
    inner: &'s str,
}

impl<'s> Markup<'s> {
    /// The tag's name (`#` for an inline comment) and what follows it.
    fn name_and_arguments(&self) -> (&'s str, &'s str) {
        let inner = self.inner.trim_start_matches(is_space);
        if let Some(rest) = inner.strip_prefix('#') {
            return ("#", rest);
        }
        let end = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        (&inner[..end], &inner[end..])
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The next closed tag or output at or after `from`; with `tags_only`, outputs are text (as in
/// the body of a `raw` or `doc` block).
fn next_markup(source: &str, from: usize, tags_only: bool) -> Option<Markup<'_>> {
    let mut at = from;
    loop {
        let start = at + source[at..].find('{')?;
        at = start + 1;
        let (is_tag, close) = match source.as_bytes().get(start + 1) {
            Some(b'%') => (true, "%}"),
            Some(b'{') if !tags_only => (false, "}}"),
            _ => continue,
        };
        let body_start = start + 2;
        let Some(body_len) = source[body_start..].find(close) else {
            // Unclosed: text, as liquid reads it.
            continue;
        };
        let body_end = body_start + body_len;
        let mut inner = &source[body_start..body_end];
        let trim_left = inner.starts_with('-');
        if trim_left {
            inner = &inner[1..];
        }
        let trim_right = inner.ends_with('-');
        if trim_right {
            inner = &inner[..inner.len() - 1];
        }
        return Some(Markup {
            start,
            end: body_end + 2,
            is_tag,
            trim_left,
            trim_right,
            inner,
        });
    }
}

fn line_of(source: &str, offset: usize) -> usize {
    source[..offset].matches('\n').count() + 1
}

fn open(trim_left: bool) -> &'static str {
    if trim_left { "{%-" } else { "{%" }
}

fn close(trim_right: bool) -> &'static str {
    if trim_right { "-%}" } else { "%}" }
}

/// An empty comment with the given whitespace control and line breaks: what a comment, a `doc`
/// or an inline comment renders (nothing), keeping the source's lines.
fn empty_comment(out: &mut String, trim_left: bool, trim_right: bool, newlines: usize) {
    out.push_str(open(trim_left));
    out.push_str(" comment");
    push_newlines(out, newlines);
    out.push_str(" %}{% endcomment ");
    out.push_str(close(trim_right));
}

fn push_newlines(out: &mut String, count: usize) {
    out.extend(std::iter::repeat_n('\n', count));
}

/// The source as liquid can parse it, or the source itself when nothing needs rewriting.
pub(crate) fn prepare(source: &str) -> Result<Cow<'_, str>, MarkupError> {
    if !source.contains("{{") && !source.contains("{%") {
        return Ok(Cow::Borrowed(source));
    }
    let mut out = String::with_capacity(source.len() + source.len() / 8);
    let mut copied = 0;
    let mut at = 0;
    while let Some(markup) = next_markup(source, at, false) {
        push_text(
            &mut out,
            &source[copied..markup.start],
            copied,
            markup.trim_left,
            source,
        );
        let end = rewrite(source, &markup, &mut out)?;
        copied = end;
        at = end;
    }
    push_text(&mut out, &source[copied..], copied, false, source);
    Ok(Cow::Owned(blank_bodies::drop_whitespace_of_blank_blocks(
        &out,
    )?))
}

/// Text between markups, with whitespace control as Ruby applies it: a hyphen trims every
/// whitespace character. liquid's grammar trims spaces and line breaks itself (and keeps the
/// lines of parse errors); the others (tabs, form feeds) are dropped here.
fn push_text(out: &mut String, text: &str, offset: usize, trim_end: bool, source: &str) {
    let trim_start = source[..offset].ends_with("-%}") || source[..offset].ends_with("-}}");
    let kept_by_liquid = |c: char| matches!(c, ' ' | '\n' | '\r');
    let mut middle = text;
    if trim_start {
        let rest = middle.trim_start_matches(is_ruby_space);
        out.extend(
            middle[..middle.len() - rest.len()]
                .chars()
                .filter(|&c| kept_by_liquid(c)),
        );
        middle = rest;
    }
    let mut tail = "";
    if trim_end {
        let rest = middle.trim_end_matches(is_ruby_space);
        tail = &middle[rest.len()..];
        middle = rest;
    }
    out.push_str(middle);
    out.extend(tail.chars().filter(|&c| kept_by_liquid(c)));
}

/// Ruby's `\s`.
fn is_ruby_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

#[path = "blank_bodies.rs"]
mod blank_bodies;

/// Writes `markup` (and, for a block copied or dropped whole, its body) rewritten; returns the
/// offset where the source goes on.
fn rewrite(source: &str, markup: &Markup<'_>, out: &mut String) -> Result<usize, MarkupError> {
    if !markup.is_tag {
        out.push_str(open(markup.trim_left));
        out.push_str(" echo ");
        push_value(out, markup.inner);
        out.push(' ');
        out.push_str(close(markup.trim_right));
        return Ok(markup.end);
    }
    let (name, arguments) = markup.name_and_arguments();
    match name {
        "#" => {
            inline_comment(source, markup, arguments)?;
            let newlines = markup.inner.matches('\n').count();
            empty_comment(out, markup.trim_left, markup.trim_right, newlines);
            Ok(markup.end)
        }
        "raw" => {
            let end = find_block_end(source, markup.end, "raw", "endraw", false)
                .map_or(source.len(), |close| close.end);
            out.push_str(&source[markup.start..end]);
            Ok(end)
        }
        "comment" | "doc" => {
            let (end_name, nests) = if name == "comment" {
                ("endcomment", true)
            } else {
                ("enddoc", false)
            };
            if name == "doc" && !arguments.trim_matches(is_space).is_empty() {
                return Err(error(source, markup, "`doc` takes no arguments"));
            }
            let Some(closing) = find_block_end(source, markup.end, name, end_name, nests) else {
                return Err(error(source, markup, &format!("`{name}` is never closed")));
            };
            let newlines = source[markup.start..closing.end].matches('\n').count();
            empty_comment(out, markup.trim_left, closing.trim_right, newlines);
            Ok(closing.end)
        }
        "liquid" => {
            let mut expanded = String::new();
            let lines = LiquidLines::expand(arguments, &mut expanded)
                .map_err(|message| error(source, markup, &message))?;
            let newlines = markup.inner.matches('\n').count();
            if markup.trim_left {
                empty_comment(out, true, false, 0);
            }
            out.push_str(&expanded);
            if markup.trim_right || newlines > lines {
                empty_comment(
                    out,
                    false,
                    markup.trim_right,
                    newlines - lines.min(newlines),
                );
            }
            Ok(markup.end)
        }
        "echo" | "assign" => {
            out.push_str(open(markup.trim_left));
            push_tag_with_value(out, markup.inner.trim_start_matches(is_space));
            out.push_str(close(markup.trim_right));
            Ok(markup.end)
        }
        _ => {
            out.push_str(&source[markup.start..markup.end]);
            Ok(markup.end)
        }
    }
}

/// An `echo` or `assign` tag's inner text, its value's leading range rewritten.
fn push_tag_with_value(out: &mut String, inner: &str) {
    let value_at = if inner.starts_with("assign") {
        inner.find('=').map(|at| at + 1)
    } else {
        Some("echo".len())
    };
    match value_at {
        Some(at) if inner.is_char_boundary(at) => {
            out.push(' ');
            out.push_str(&inner[..at]);
            push_value(out, &inner[at..]);
            out.push(' ');
        }
        _ => {
            out.push(' ');
            out.push_str(inner);
            out.push(' ');
        }
    }
}

/// A value, with a range that starts it (`(1..5) | join: ','`) turned into the range filter
/// (`1 | __range: 5 | join: ','`): liquid's grammar takes a range only as a `for` collection
/// or a tag argument, Shopify anywhere a value goes. Line breaks are kept.
fn push_value(out: &mut String, value: &str) {
    match leading_range(value) {
        Some((start, stop, rest)) => {
            let range = &value[..value.len() - rest.len()];
            out.push(' ');
            out.push_str(start);
            out.push_str(" | ");
            out.push_str(super::shopify_filters::RANGE_FILTER_NAME);
            out.push_str(": ");
            out.push_str(stop);
            push_newlines(out, range.matches('\n').count());
            out.push_str(rest);
        }
        None => out.push_str(value),
    }
}

/// `(start..stop)` at the start of `value` (after whitespace): its two ends, trimmed, and what
/// follows the closing parenthesis.
fn leading_range(value: &str) -> Option<(&str, &str, &str)> {
    let inner = value.trim_start_matches(is_space).strip_prefix('(')?;
    let mut quote = None;
    let mut dots = None;
    for (at, c) in inner.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '.') if dots.is_none() && inner[at..].starts_with("..") => dots = Some(at),
            (None, '(') => return None,
            (None, ')') => {
                let dots = dots?;
                let start = inner[..dots].trim_matches(is_space);
                let stop = inner[dots + 2..at].trim_matches(is_space);
                if start.is_empty() || stop.is_empty() {
                    return None;
                }
                return Some((start, stop, &inner[at + 1..]));
            }
            _ => {}
        }
    }
    None
}

fn error(source: &str, markup: &Markup<'_>, message: &str) -> MarkupError {
    MarkupError {
        line: line_of(source, markup.start),
        message: message.to_owned(),
    }
}

/// Shopify's inline comment spans several lines only if each of them starts with `#`.
fn inline_comment(source: &str, markup: &Markup<'_>, text: &str) -> Result<(), MarkupError> {
    let unmarked = text
        .split('\n')
        .skip(1)
        .map(|line| line.trim_matches(is_space))
        .any(|line| !line.is_empty() && !line.starts_with('#'));
    if unmarked {
        return Err(error(
            source,
            markup,
            "every line of an inline comment must start with `#`",
        ));
    }
    Ok(())
}

/// The tag that closes the block opened before `from`, skipping `raw` blocks and, when the
/// block nests, counting inner openings.
fn find_block_end<'s>(
    source: &'s str,
    from: usize,
    name: &str,
    end_name: &str,
    nests: bool,
) -> Option<Markup<'s>> {
    let mut depth = 0usize;
    let mut at = from;
    while let Some(markup) = next_markup(source, at, !nests) {
        at = markup.end;
        if !markup.is_tag {
            continue;
        }
        let (tag, _) = markup.name_and_arguments();
        if tag == end_name {
            if depth == 0 {
                return Some(markup);
            }
            depth -= 1;
        } else if nests && tag == name {
            depth += 1;
        } else if nests && tag == "raw" {
            at = find_block_end(source, markup.end, "raw", "endraw", false)?.end;
        }
    }
    None
}

/// The lines of a `liquid` tag, written as one tag each.
struct LiquidLines<'o> {
    out: &'o mut String,
    /// Line breaks of the tag already written into the output.
    written_lines: usize,
    /// Block tags opened and not yet closed, to refuse a line that closes a block opened outside
    /// the `liquid` tag.
    open_blocks: Vec<String>,
}

const BLOCKS: &[&str] = &[
    "if",
    "unless",
    "case",
    "for",
    "capture",
    "tablerow",
    "ifchanged",
];

impl LiquidLines<'_> {
    /// Writes each line of `body` as a tag; returns how many line breaks the output holds.
    fn expand(body: &str, out: &mut String) -> Result<usize, String> {
        let mut lines = LiquidLines {
            out,
            written_lines: 0,
            open_blocks: Vec::new(),
        };
        lines.write_body(body, 0)?;
        if let Some(open) = lines.open_blocks.last() {
            return Err(format!("`{open}` is not closed inside the `liquid` tag"));
        }
        Ok(lines.written_lines)
    }

    fn write_body(&mut self, body: &str, first_line: usize) -> Result<(), String> {
        let mut in_comment = 0usize;
        for (index, line) in body.split('\n').enumerate() {
            let line = line.trim_matches(is_space);
            let name = line
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            if in_comment > 0 {
                match name {
                    "comment" => in_comment += 1,
                    "endcomment" => in_comment -= 1,
                    _ => {}
                }
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match name {
                "comment" => in_comment = 1,
                "liquid" => self.write_body(&line["liquid".len()..], first_line + index)?,
                _ => self.write_line(line, name, first_line + index)?,
            }
        }
        if in_comment > 0 {
            return Err("`comment` is not closed inside the `liquid` tag".to_owned());
        }
        Ok(())
    }

    fn write_line(&mut self, line: &str, name: &str, line_index: usize) -> Result<(), String> {
        if BLOCKS.contains(&name) {
            self.open_blocks.push(name.to_owned());
        } else if let Some(block) = name.strip_prefix("end")
            && BLOCKS.contains(&block)
            && self.open_blocks.pop().as_deref() != Some(block)
        {
            return Err(format!(
                "`{name}` closes a block the `liquid` tag did not open"
            ));
        }
        self.out.push_str("{%");
        push_newlines(self.out, line_index.saturating_sub(self.written_lines));
        self.written_lines = self.written_lines.max(line_index);
        if name == "echo" || name == "assign" {
            push_tag_with_value(self.out, line);
        } else {
            self.out.push(' ');
            self.out.push_str(line);
            self.out.push(' ');
        }
        self.out.push_str("%}");
        Ok(())
    }
}

#[cfg(test)]
#[path = "markup_tests.rs"]
mod tests;
