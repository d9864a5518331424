//! Blocks that print nothing but whitespace print nothing, as in Shopify.
//!
//! Ruby Liquid drops the whitespace-only text of an `if`, `unless`, `case` or `for` whose
//! branches hold nothing but whitespace and tags that print nothing (`assign`, `capture`,
//! comments, and such blocks themselves), so that a block of assignments laid out over several
//! lines leaves no blank lines in the email. liquid's parser has no such notion; this pass over
//! the rewritten source drops that text, moving its line breaks into the next tag so that parse
//! errors keep the author's lines.

use super::{BLOCKS, MarkupError, find_block_end, is_ruby_space, line_of, next_markup};
use crate::render::budget::MAX_BLOCK_NESTING;

/// Blocks whose whitespace Ruby drops when all their branches are blank.
const STRIPPED: &[&str] = &["if", "unless", "case", "for"];

/// Blocks that are never blank (their own markup prints), whose whitespace stays.
const PRINTING: &[&str] = &["tablerow", "ifchanged"];

/// Tags that print nothing.
const SILENT: &[&str] = &["assign", "comment"];

struct Frame {
    name: String,
    blank: bool,
    /// Byte ranges of the whitespace-only text directly inside this block.
    texts: Vec<(usize, usize)>,
}

/// The source without the whitespace of blank blocks. Blocks nested deeper than
/// [`MAX_BLOCK_NESTING`] are refused here, before liquid's parser recurses into them.
pub(super) fn drop_whitespace_of_blank_blocks(source: &str) -> Result<String, MarkupError> {
    let dropped = blank_texts(source)?;
    if dropped.is_empty() {
        return Ok(source.to_owned());
    }
    let mut out = String::with_capacity(source.len());
    let mut copied = 0;
    for (start, end) in dropped {
        out.push_str(&source[copied..start]);
        // The text's line breaks go into the tag that follows it: `{%` then whitespace.
        let tag_open = if source[end..].starts_with("{%-") {
            3
        } else {
            2
        };
        out.push_str(&source[end..end + tag_open]);
        out.extend(std::iter::repeat_n(
            '\n',
            source[start..end].matches('\n').count(),
        ));
        copied = end + tag_open;
    }
    out.push_str(&source[copied..]);
    Ok(out)
}

/// The whitespace-only texts of blank blocks, in order.
fn blank_texts(source: &str) -> Result<Vec<(usize, usize)>, MarkupError> {
    let mut stack = vec![Frame {
        name: String::new(),
        blank: false,
        texts: Vec::new(),
    }];
    let mut dropped = Vec::new();
    let mut nesting = 0usize;
    let mut at = 0;
    while let Some(markup) = next_markup(source, at, true) {
        let text = &source[at..markup.start];
        let frame = stack
            .last_mut()
            .expect("the top-level frame is never popped");
        if text.chars().all(is_ruby_space) {
            if !text.is_empty() {
                frame.texts.push((at, markup.start));
            }
        } else {
            frame.blank = false;
        }
        at = markup.end;
        let (name, _) = markup.name_and_arguments();
        if BLOCKS.contains(&name) {
            nesting += 1;
            if nesting > MAX_BLOCK_NESTING {
                return Err(MarkupError {
                    line: line_of(source, markup.start),
                    message: format!("blocks nest more than {MAX_BLOCK_NESTING} deep"),
                });
            }
        } else if name
            .strip_prefix("end")
            .is_some_and(|block| BLOCKS.contains(&block))
        {
            nesting = nesting.saturating_sub(1);
        }
        if STRIPPED.contains(&name) || PRINTING.contains(&name) || name == "capture" {
            stack.push(Frame {
                name: name.to_owned(),
                blank: true,
                texts: Vec::new(),
            });
        } else if let Some(opened) = name.strip_prefix("end")
            && stack.len() > 1
            && stack.last().is_some_and(|frame| frame.name == opened)
        {
            let frame = stack.pop().expect("checked above");
            let parent = stack.last_mut().expect("the top-level frame stays");
            if STRIPPED.contains(&opened) {
                if frame.blank {
                    dropped.extend(frame.texts);
                }
                parent.blank &= frame.blank;
            } else if PRINTING.contains(&opened) {
                parent.blank = false;
            }
        } else if name == "comment" || name == "raw" {
            let end_name = if name == "comment" {
                "endcomment"
            } else {
                "endraw"
            };
            match find_block_end(source, markup.end, name, end_name, false) {
                Some(closing) => at = closing.end,
                None => return Ok(Vec::new()),
            }
            if name == "raw" {
                stack.last_mut().expect("a frame").blank = false;
            }
        } else if !SILENT.contains(&name) && !matches!(name, "else" | "elsif" | "when") {
            stack.last_mut().expect("a frame").blank = false;
        }
    }
    dropped.sort_unstable();
    Ok(dropped)
}
