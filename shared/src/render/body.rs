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

use liquid_core::parser::{BlockElement, TagBlock};
use liquid_core::runtime::InterruptRegister;
use liquid_core::{Language, ParseTag, Renderable, Result, Runtime, TagReflection, TagTokenIter};

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
