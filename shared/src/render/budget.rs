//! The render budget: what one part of one recipient's message may cost.
//!
//! A template is the retailer's code, run once per recipient inside a delivery Lambda. One that
//! loops, nests or grows without bound (by mistake: `(1..100000000)`, an `append` that doubles a
//! string in a loop) must fail that recipient's render with a clear error, not run the Lambda
//! into its timeout or out of memory with every other recipient of the batch. Each limit is far
//! above what an email needs and is checked without a syscall: the work is counted, not timed.

use std::io::{self, Write};

use liquid_core::error::ResultLiquidExt;
use liquid_core::model::{Value, ValueView};
use liquid_core::parser::TagBlock;
use liquid_core::{
    BlockReflection, Error, Language, ParseBlock, Renderable, Result, Runtime, TagTokenIter,
    Template,
};

/// Bytes of one rendered part, and of any one text a template builds (a `capture`, an assigned
/// string or list). Gmail clips an email's HTML past 102 KB, and a retail email is 15 to 100 KB:
/// 1 MiB is ten times what an inbox shows. Three parts at the limit, base64-encoded in the MIME
/// (4/3), stay near 4.2 MB, under SES's 10 MB per message.
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// Loop iterations of one part's render, all `for` and `tablerow` loops together, nested ones
/// included (each iteration of an inner loop counts). A product grid is at most a few hundred
/// items; a range longer than this fails before it is built.
pub const MAX_LOOP_ITERATIONS: usize = 10_000;

/// Blocks (`if`, `for`, `capture`, …) nested inside each other in one source. Ruby Liquid
/// stops at 100; with snippets nesting [`super::MAX_PARTIAL_DEPTH`] deep a render recurses at
/// most 16 × 50 blocks, which fits a 2 MiB thread stack (a test renders it on one).
pub const MAX_BLOCK_NESTING: usize = 50;

/// The message of a render that went past a limit.
pub(crate) fn exceeded(what: &str, limit: usize) -> Error {
    Error::with_msg(format!(
        "the render budget is exceeded: more than {limit} {what}"
    ))
}

/// Loop iterations used so far in this render (a register of the runtime; a snippet's frame
/// carries it in and out).
#[derive(Default, Clone, Copy)]
pub(crate) struct Iterations(pub(crate) usize);

/// Counts `count` more loop iterations; past [`MAX_LOOP_ITERATIONS`] the render fails.
pub(crate) fn charge_iterations(runtime: &dyn Runtime, count: usize) -> Result<()> {
    let mut used = runtime.registers().get_mut::<Iterations>();
    used.0 = used.0.saturating_add(count);
    if used.0 > MAX_LOOP_ITERATIONS {
        return Err(exceeded("loop iterations", MAX_LOOP_ITERATIONS));
    }
    Ok(())
}

/// The size of a value a template assigns, counted up to just past the limit: bytes of its
/// texts plus one per item.
fn weight(value: &dyn ValueView, limit: usize) -> usize {
    if let Some(scalar) = value.as_scalar() {
        return scalar.to_kstr().len();
    }
    let mut total = 0usize;
    let children: Box<dyn Iterator<Item = &dyn ValueView>> =
        match (value.as_array(), value.as_object()) {
            (Some(array), _) => array.values(),
            (None, Some(object)) => object.values(),
            _ => return 0,
        };
    for child in children {
        total = total.saturating_add(1 + weight(child, limit - total.min(limit)));
        if total > limit {
            break;
        }
    }
    total
}

/// Refuses a value a template is about to assign that is larger than [`MAX_OUTPUT_BYTES`].
pub(crate) fn check_assigned(value: &Value) -> Result<()> {
    if let Value::Scalar(scalar) = value {
        // The common case, a short text or a number, without a walk.
        if scalar.to_kstr().len() <= MAX_OUTPUT_BYTES {
            return Ok(());
        }
    }
    if weight(value, MAX_OUTPUT_BYTES) > MAX_OUTPUT_BYTES {
        return Err(exceeded("bytes in one assigned value", MAX_OUTPUT_BYTES));
    }
    Ok(())
}

/// A writer that takes at most [`MAX_OUTPUT_BYTES`] in all.
pub(crate) struct LimitedWriter<'w> {
    pub(crate) bytes: &'w mut Vec<u8>,
    pub(crate) exceeded: bool,
}

impl<'w> LimitedWriter<'w> {
    pub(crate) fn new(bytes: &'w mut Vec<u8>) -> Self {
        LimitedWriter {
            bytes,
            exceeded: false,
        }
    }
}

impl Write for LimitedWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT_BYTES {
            self.exceeded = true;
            return Err(io::Error::other(
                "the render budget's output size is exceeded",
            ));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write(buf).map(|_| ())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `{% capture name %}…{% endcapture %}`, as liquid's, with the captured text limited to
/// [`MAX_OUTPUT_BYTES`] while it is written (liquid's grows without bound).
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct CaptureBlock;

impl BlockReflection for CaptureBlock {
    fn start_tag(&self) -> &str {
        "capture"
    }

    fn end_tag(&self) -> &str {
        "endcapture"
    }

    fn description(&self) -> &str {
        "Captures the text of its body into a variable."
    }
}

impl ParseBlock for CaptureBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let id = arguments
            .expect_next("Identifier expected")?
            .expect_identifier()
            .into_result()?;
        let id = liquid_core::model::KString::from_ref(id);
        arguments.expect_nothing()?;
        let template = Template::new(tokens.parse_all(options)?);
        tokens.assert_empty();
        Ok(Box::new(Capture { id, template }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct Capture {
    id: liquid_core::model::KString,
    template: Template,
}

impl Renderable for Capture {
    fn render_to(&self, _writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let mut captured = Vec::new();
        let mut writer = LimitedWriter::new(&mut captured);
        let rendered = self.template.render_to(&mut writer, runtime);
        if writer.exceeded {
            return Err(exceeded("bytes in one captured text", MAX_OUTPUT_BYTES));
        }
        rendered.trace_with(|| format!("{{% capture {} %}}", self.id).into())?;
        let output = String::from_utf8(captured)
            .map_err(|_| Error::with_msg("captured text is not UTF-8"))?;
        runtime.set_global(self.id.clone(), Value::scalar(output));
        Ok(())
    }
}

/// `{% assign name = value | filters %}`, as liquid's, refusing a value larger than
/// [`MAX_OUTPUT_BYTES`] (a string that doubles with `append` in a loop).
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct AssignTag;

impl liquid_core::TagReflection for AssignTag {
    fn tag(&self) -> &str {
        "assign"
    }

    fn description(&self) -> &str {
        "Assigns a value to a variable."
    }
}

impl liquid_core::ParseTag for AssignTag {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let target = arguments
            .expect_next("Identifier expected.")?
            .expect_identifier()
            .into_result()?;
        let target = liquid_core::model::KString::from_ref(target);
        arguments
            .expect_next("Assignment operator \"=\" expected.")?
            .expect_str("=")
            .into_result_custom_msg("Assignment operator \"=\" expected.")?;
        let token = arguments.expect_next("FilterChain expected.")?;
        let text = token.as_str().to_owned();
        let source = token.expect_filter_chain(options).into_result()?;
        arguments.expect_nothing()?;
        let source = super::chain::Chain::new(&text, source, options);
        Ok(Box::new(Assign { target, source }))
    }

    fn reflection(&self) -> &dyn liquid_core::TagReflection {
        self
    }
}

#[derive(Debug)]
struct Assign {
    target: liquid_core::model::KString,
    source: super::chain::Chain,
}

impl Renderable for Assign {
    fn render_to(&self, _writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let value = self
            .source
            .evaluate(runtime)
            .trace_with(|| format!("{{% assign {} = {} %}}", self.target, self.source).into())?
            .into_owned();
        // A plain path copies what the data or an earlier (checked) assignment already holds:
        // it cannot grow anything, so it is not weighed again.
        if !self.source.is_plain_path() {
            check_assigned(&value)?;
        }
        runtime.set_global(self.target.clone(), value);
        Ok(())
    }
}
