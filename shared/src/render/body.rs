//! A block's body that looks at the interrupt register only where it can have been set.
//!
//! liquid's `Template` looks the interrupt register up (a map lookup behind a `RefCell`) after
//! every element it renders, so that a `break` or `continue` stops the rest of the body. Only
//! an element that renders a `break` or `continue` (the tag itself, a block containing one, or a
//! snippet, which may contain one) can set it. Parsing counts those tags ([`Interrupting`],
//! [`note_interrupting_tag`]); a [`Body`] looks at the register only after the elements whose
//! parse counted one, so it stops exactly where liquid's `Template` stops.

use std::cell::Cell;
use std::io::Write;

use liquid_core::error::ResultLiquidReplaceExt;
use liquid_core::parser::{BlockElement, TagBlock};
use liquid_core::runtime::InterruptRegister;
use liquid_core::{
    BlockReflection, Language, ParseBlock, ParseTag, Renderable, Result, Runtime, TagReflection,
    TagTokenIter,
};

thread_local! {
    /// Tags parsed on this thread that can set the interrupt register (parsing is synchronous,
    /// so the count's growth while one element parses is that element's own).
    static INTERRUPTING_TAGS: Cell<u64> = const { Cell::new(0) };
}

/// Counts one parsed tag that can set the interrupt register (`break`, `continue`, a snippet).
pub(crate) fn note_interrupting_tag() {
    INTERRUPTING_TAGS.with(|count| count.set(count.get() + 1));
}

/// How many tags that can set the interrupt register this thread has parsed so far.
pub(crate) fn interrupting_tags_parsed() -> u64 {
    INTERRUPTING_TAGS.with(Cell::get)
}

/// Forgets the tags counted since `count`: a loop's body, whose interrupts end at the loop.
pub(crate) fn forget_interrupting_tags_since(count: u64) {
    INTERRUPTING_TAGS.with(|counted| counted.set(count));
}

/// A tag (liquid's `break`, `continue`) whose parse is counted by [`note_interrupting_tag`].
#[derive(Clone, Debug)]
pub(crate) struct Interrupting<T>(pub(crate) T);

impl<T: ParseTag + Clone + 'static> ParseTag for Interrupting<T> {
    fn parse(
        &self,
        arguments: TagTokenIter<'_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        note_interrupting_tag();
        self.0.parse(arguments, options)
    }

    fn reflection(&self) -> &dyn TagReflection {
        self.0.reflection()
    }
}

/// Template text between tags, written as it is (liquid's own text goes through `write!`).
#[derive(Debug)]
struct RawText(String);

impl Renderable for RawText {
    fn render_to(&self, writer: &mut dyn Write, _runtime: &dyn Runtime) -> Result<()> {
        writer
            .write_all(self.0.as_bytes())
            .replace("Failed to render")?;
        Ok(())
    }
}

/// The block a whole part is wrapped in ([`parse_part`]); a template that writes it fails to
/// parse.
const PART_BLOCK: &str = "storecast_part__";

thread_local! {
    /// Set by [`parse_part`] for its own wrapping block only.
    static PART_ALLOWED: Cell<bool> = const { Cell::new(false) };
}

/// Parses a prepared part (or snippet) wrapped in [`PartBlock`], so that its top-level
/// elements are a [`Body`]'s: text written without `write!`, the interrupt register looked at
/// only after elements that can set it. `None` when the wrapped source does not parse as one
/// block: the caller parses it as written, which gives the author's error.
pub(crate) fn parse_part(prepared: &str, language: &Language) -> Option<Box<dyn Renderable>> {
    let wrapped = format!("{{% {PART_BLOCK} %}}{prepared}{{% end{PART_BLOCK} %}}");
    PART_ALLOWED.with(|allowed| allowed.set(true));
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        liquid_core::parser::parse(&wrapped, language)
    }));
    PART_ALLOWED.with(|allowed| allowed.set(false));
    let mut elements = parsed.ok()?.ok()?;
    if elements.len() != 1 {
        return None;
    }
    elements.pop()
}

/// A whole part (or snippet) parsed as one block, so that its top-level elements are parsed as
/// a [`Body`]'s (liquid's top-level parse returns them already built).
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct PartBlock;

impl BlockReflection for PartBlock {
    fn start_tag(&self) -> &str {
        PART_BLOCK
    }

    fn end_tag(&self) -> &str {
        "endstorecast_part__"
    }

    fn description(&self) -> &str {
        "A whole part, as a body (added by the compiler around every part)."
    }
}

impl ParseBlock for PartBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        if !PART_ALLOWED.with(|allowed| allowed.replace(false)) {
            return Err(liquid_core::Error::with_msg(format!(
                "Unknown tag `{PART_BLOCK}`"
            )));
        }
        arguments.expect_nothing()?;
        let body = Body::parse_rest(&mut tokens, options)?;
        tokens.assert_empty();
        Ok(Box::new(body))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

/// Elements rendered in order, stopping after one that set the interrupt register.
#[derive(Debug, Default)]
pub(crate) struct Body {
    elements: Vec<Box<dyn Renderable>>,
    /// Per element: whether it can set the interrupt register.
    interrupts: Vec<bool>,
    /// Whether any element can.
    any_interrupts: bool,
}

impl Body {
    /// Elements parsed without counting: each may interrupt when `may_interrupt`.
    pub(crate) fn uniform(elements: Vec<Box<dyn Renderable>>, may_interrupt: bool) -> Self {
        let interrupts = vec![may_interrupt; elements.len()];
        Body {
            any_interrupts: may_interrupt && !elements.is_empty(),
            elements,
            interrupts,
        }
    }

    /// Parses `element` (the next of `tokens`) and adds it.
    pub(crate) fn parse_push<'a>(
        &mut self,
        element: BlockElement<'a>,
        tokens: &mut TagBlock<'a, '_>,
        options: &Language,
    ) -> Result<()> {
        if let BlockElement::Raw(raw) = element {
            self.push(Box::new(RawText(raw.as_str().to_owned())), false);
            return Ok(());
        }
        let before = interrupting_tags_parsed();
        let parsed = element.parse(tokens, options)?;
        self.push(parsed, interrupting_tags_parsed() != before);
        Ok(())
    }

    /// Parses the rest of `tokens` (an `else` branch) into a body.
    pub(crate) fn parse_rest(tokens: &mut TagBlock<'_, '_>, options: &Language) -> Result<Self> {
        let mut body = Body::default();
        while let Some(element) = tokens.next()? {
            body.parse_push(element, tokens, options)?;
        }
        Ok(body)
    }

    pub(crate) fn push(&mut self, element: Box<dyn Renderable>, may_interrupt: bool) {
        self.elements.push(element);
        self.interrupts.push(may_interrupt);
        self.any_interrupts |= may_interrupt;
    }

    /// Whether rendering this body can leave the interrupt register set.
    pub(crate) fn may_interrupt(&self) -> bool {
        self.any_interrupts
    }
}

impl Renderable for Body {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        for (element, may_interrupt) in self.elements.iter().zip(&self.interrupts) {
            element.render_to(writer, runtime)?;
            if *may_interrupt
                && runtime
                    .registers()
                    .get_mut::<InterruptRegister>()
                    .interrupted()
            {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
